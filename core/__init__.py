"""The shared kernel: plain Python that every app may import and that imports no app."""
