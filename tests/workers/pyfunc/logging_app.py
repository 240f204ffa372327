"""A Python adapter handler that logs the usual ways (tests/test_adapter_logging.py)."""

import logging
import sys

# A no-op under Lambda's handler (installed before user code): no second
# handler, and the root level stays WARNING unless AWS_LAMBDA_LOG_LEVEL says otherwise.
logging.basicConfig(level=logging.DEBUG, format="%(message)s")
logger = logging.getLogger("app")


def handler(event, context):
    logger.debug("debug line")
    logger.info("info line")
    logging.warning("warning from the root logger")
    logger.info("with extra", extra={"order": 42})
    logger.error("two\nlines")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("caught")
    print("printed to stdout")
    print("printed to stderr", file=sys.stderr)
    if event.get("fail"):
        raise ValueError("handler failed")
    return {"ok": True}
