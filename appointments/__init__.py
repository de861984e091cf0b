"""Home-visit appointments: visit windows and capacity, bookings, and dispatch of visits to officers."""
