"""olive-lab's terminal app: thin screens and widgets over the engine."""
