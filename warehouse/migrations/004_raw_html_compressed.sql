-- Raw HTML kept compressed (zlib, about 1/6 of the size): DuckDB stores a long VARCHAR in
-- overflow blocks, about twice its UTF-8 size on disk, and holds several times that in memory
-- while a transaction inserts it. New pages go to html_zlib (html stays NULL); pages stored
-- before this version keep their html. warehouse.rows.raw_html reads either.
ALTER TABLE raw_pages ADD COLUMN html_zlib BLOB;
ALTER TABLE raw_pages ALTER COLUMN html DROP NOT NULL;
