"""Excel exports of the console's lists (rooms, stock, loans aggregated, shipments, training records,
rating results) and the console's 藏书与流通 pages (/console/stock, /console/loans)."""
