"""From records to answers: per-config statistics, comparisons with uncertainty, health flags, tables, plots, files."""
