"""Allow `python -m simtext` and `accelerate launch -m simtext`."""

from simtext.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
