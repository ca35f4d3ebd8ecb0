-- marsad warehouse, version 3: full-text search.
-- The fts index itself (schema fts_main_search_documents) is built by warehouse/search.py
-- refresh_search_index; this table records which version of each article it holds, so that
-- articles loaded or changed since (the tail) are searched without it.
CREATE TABLE search_index_articles (
    article_id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
