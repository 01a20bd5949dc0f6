"""Statistical process control: control charts, run rules and capability indices."""
