-- marsad warehouse, version 2: what dedupe keeps of every text, to find copies of a story.
-- No non-constant column DEFAULTs (now(), nextval): clients attached over Quack cannot bind them.
--
-- Both tables are appended in the order texts are fetched and never updated, and carry no ART
-- index on purpose: DuckDB's min/max zone map on indexed_at (one per row group) is the index.
-- Copies are looked for in a time window (warehouse/clusters.py NEAR_WINDOW, EXACT_WINDOW), so
-- a lookup reads only the row groups of that window, however long the history. An ART index on
-- band was measured at 1M articles (53M band rows): each 200-article batch dirtied most of the
-- index, so closing the file rewrote it (2.7-4 s), and a freshly opened file read most of it
-- back to look up one batch's bands (0.4-2.4 s).

-- One row per fingerprinted text of an article: a revised article gets a row for its new text
-- and keeps the old one, so copies of either version find it.
CREATE TABLE article_fingerprints (
    article_id         VARCHAR NOT NULL,
    fp_key             BIGINT NOT NULL,      -- clusters.article_key(article_id): what bands point to
    cluster_id         VARCHAR NOT NULL,     -- the article's cluster; it never changes
    scheme             VARCHAR,              -- extractors.dedupe SCHEME.version; NULL: no signature
    content_hash       VARCHAR,
    exact_key          VARCHAR,              -- dedupe.exact_key: copies with equal keys cluster
    exact_hash         BIGINT,               -- clusters.key_hash(exact_key): what lookups compare
    n_tokens           INTEGER,
    shingle_count      INTEGER,
    lead_shingle_count INTEGER,
    minhash            UINTEGER[],           -- whole-body MinHash signature
    lead_minhash       UINTEGER[],           -- signature of the lead (first words), for teasers
    indexed_at         TIMESTAMPTZ NOT NULL  -- when this text was fetched
);

-- LSH band hashes of each signature (whole body, then lead), one row per band.
CREATE TABLE article_bands (
    band       BIGINT NOT NULL,
    fp_key     BIGINT NOT NULL,
    indexed_at TIMESTAMPTZ NOT NULL
);

-- Articles loaded by version 1 have no signatures: their content hash still finds exact copies.
-- The key hashes are the first 16 hex digits of SHA-256 shifted right by one, as in clusters.py.
INSERT INTO article_fingerprints (
    article_id, fp_key, cluster_id, content_hash, exact_key, exact_hash, indexed_at
)
SELECT
    article_id,
    CAST(CAST('0x' || substr(sha256(article_id), 1, 16) AS UBIGINT) >> 1 AS BIGINT),
    coalesce(cluster_id, article_id),
    content_hash,
    content_hash,
    CAST(CAST('0x' || substr(sha256(content_hash), 1, 16) AS UBIGINT) >> 1 AS BIGINT),
    fetched_at
FROM articles
WHERE content_hash IS NOT NULL
ORDER BY fetched_at;
