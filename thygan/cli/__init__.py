"""Click commands, one module per command; `thygan <command>` and the root scripts share them."""
