"""`python -m sim` runs the `clubsim` command (`sim.interfaces.cli`)."""

from sim.interfaces.cli import main

if __name__ == "__main__":
    main()
