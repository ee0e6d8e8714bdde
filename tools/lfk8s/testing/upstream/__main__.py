"""`python -m lfk8s.testing.upstream`: the versions read and the count of every extracted set."""

from lfk8s.testing.upstream.summary import main

main()
