"""Stations, areas and accounts: who works where."""
