"""The command-line commands (train, ablate, evaluate, render): they alone parse flags, print,
and read and write run directories. The library never imports them."""
