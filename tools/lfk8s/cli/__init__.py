"""The command line: one module per command group, each a thin layer over functions the tests
call too. `lfk8s.cli.main` assembles them."""
