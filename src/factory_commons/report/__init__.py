"""Reports people read: Rich tables in the terminal and a self-contained HTML file with charts."""
