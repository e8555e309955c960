"""One module per `helved` subcommand. Each defines `register(subparsers)`, which adds its parser
and sets `func`; `helved.cli` discovers them, so adding a command touches no shared file."""
