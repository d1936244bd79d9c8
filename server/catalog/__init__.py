"""The catalog: titles keyed by ISBN-13 or an internal id, their search (汉字, pinyin,
initials, ISBN), and imports from CSV, Excel and CNMARC."""
