"""What a job is: typed specs that check their own ranges, the named scoring protocols, the batch and size rules."""
