"""`python -m sim` runs the `clubsim` command (`sim.cli`)."""

from sim.cli import main

if __name__ == "__main__":
    main()
