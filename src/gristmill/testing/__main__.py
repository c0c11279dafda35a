"""``python -m gristmill.testing``: the OpenSearch stand-in on loopback (see its module)."""

from gristmill.testing.opensearch import main

main()
