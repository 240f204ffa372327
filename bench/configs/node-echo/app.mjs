// Raw echo for the benchmark: the event bytes come back unchanged.
export async function handler(event) {
  return event;
}
