"""The results layout on disk: run directories, their states, and the one door every record is read back through."""
