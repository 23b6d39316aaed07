"""Built-in MD engines."""
