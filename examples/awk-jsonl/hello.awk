# A jsonl worker in awk (docs/jsonl.md): no JSON library, only the protocol's
# guarantees.  Each invocation is one line whose keys come in a fixed order
# with "event" last; the reply echoes the "id" token back as it came.
BEGIN {
    print "{\"ready\":true}"
    fflush()
}
{
    sub(/\r$/, "")
    # index() finds the first occurrence, which is the key: before "event",
    # quotes inside JSON strings are escaped.
    id = substr($0, 7, index($0, ",\"deadline_ms\":") - 7)   # after {"id":
    event = substr($0, index($0, ",\"event\":") + 9)
    event = substr(event, 1, length(event) - 1)              # the line's closing }
    name = "world"
    # The first "name" key with a plain string value; one with escapes is
    # refused rather than mangled (a JSON library would be needed).
    if (match(event, /[,{]"name":"[^"\\]*"/)) {
        name = substr(event, RSTART, RLENGTH)
        sub(/^.*"name":"/, "", name)
        sub(/"$/, "", name)
    } else if (event !~ /^\{/) {
        printf "{\"id\":%s,\"error\":{\"type\":\"Function.BadEvent\",\"message\":\"expected a JSON object like {\\\"name\\\": \\\"Ada\\\"}\"}}\n", id
        fflush()
        next
    } else if (event ~ /"name":/) {
        printf "{\"id\":%s,\"error\":{\"type\":\"Function.BadEvent\",\"message\":\"name must be a plain string\"}}\n", id
        fflush()
        next
    }
    printf "{\"id\":%s,\"result\":{\"message\":\"Hello, %s!\"}}\n", id, name
    fflush()
    print "greeted " name > "/dev/stderr"
}
