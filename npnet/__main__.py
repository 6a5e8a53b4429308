import sys

try:
    from npnet.cli import main
except KeyboardInterrupt:  # Ctrl-C while NumPy and npnet load: the same ending as inside a command
    print("\nnpnet: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
