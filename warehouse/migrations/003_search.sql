-- marsad warehouse, version 3: full-text search (warehouse/search.py).
-- The fts index itself lives in the schema fts_main_search_documents, rebuilt whole by
-- refresh_search_index(full=True). Which version of each article it holds:
CREATE TABLE search_index_articles (
    article_id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Articles loaded or changed since the last full rebuild (the tail), tokenized and stemmed the
-- same way, one pass at a time: their length in terms, and each term's count.
CREATE TABLE search_tail_articles (
    article_id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    terms      INTEGER NOT NULL
);

CREATE TABLE search_tail_terms (
    article_id VARCHAR NOT NULL,
    term       VARCHAR NOT NULL,
    tf         INTEGER NOT NULL
);
