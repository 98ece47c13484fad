"""What a job is: typed, validated specs and the named scoring protocols, with no behaviour of their own."""
