"""What people read: plotly figures and decision briefings."""
