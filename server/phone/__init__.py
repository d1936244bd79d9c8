"""The village administrators' phone pages (under /m)."""
