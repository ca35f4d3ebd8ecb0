-- marsad warehouse, version 1: the tables and views of CONTRACT.md.
-- No non-constant column DEFAULTs (now(), nextval): clients attached over Quack cannot bind them.

CREATE TABLE feeds (
    name                 VARCHAR PRIMARY KEY,
    url                  VARCHAR NOT NULL, -- where the feed is polled (follows permanent moves)
    config_url           VARCHAR NOT NULL, -- the URL the configuration gave
    source               VARCHAR,
    language             VARCHAR,
    timezone             VARCHAR,
    etag                 VARCHAR,
    last_modified        VARCHAR,
    body_hash            VARCHAR,          -- hash of the last feed body parsed
    last_polled_at       TIMESTAMPTZ,
    last_status          INTEGER,
    last_error           VARCHAR,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TIMESTAMPTZ,      -- first failure of the current run of failures
    next_poll_at         TIMESTAMPTZ,
    enabled              BOOLEAN NOT NULL DEFAULT true,
    articles_total       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE articles (
    article_id          VARCHAR PRIMARY KEY,
    url                 VARCHAR NOT NULL,
    canonical_url       VARCHAR NOT NULL UNIQUE,
    feed_name           VARCHAR,
    source              VARCHAR,
    title               VARCHAR,
    body                VARCHAR,
    summary             VARCHAR,
    author              VARCHAR,
    published_at        TIMESTAMPTZ,
    published_at_source VARCHAR,
    fetched_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    language            VARCHAR,
    dateline            VARCHAR,
    attribution         VARCHAR,
    is_breaking         BOOLEAN NOT NULL DEFAULT false,
    tags                VARCHAR[],
    word_count          INTEGER,
    content_hash        VARCHAR,
    cluster_id          VARCHAR,
    duplicate_of        VARCHAR,
    extraction          VARCHAR NOT NULL,
    entry_updated_at    TIMESTAMPTZ            -- the feed entry's own <updated>, to spot edits
);

CREATE TABLE article_urls (
    url           VARCHAR PRIMARY KEY,
    article_id    VARCHAR NOT NULL,
    feed_name     VARCHAR,
    first_seen_at TIMESTAMPTZ NOT NULL
);

-- Raw HTML as fetched, for `marsad reextract` (kept when warehouse.keep_raw_html is true).
CREATE TABLE raw_pages (
    article_id   VARCHAR PRIMARY KEY,
    url          VARCHAR NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL,
    content_type VARCHAR,
    html         VARCHAR NOT NULL,
    entry        JSON                      -- the feed entry it came from, for re-extraction
);

-- Entries whose page fetch failed: retried on later passes, up to fetch.page_retry_passes.
CREATE TABLE pending_pages (
    canonical_url   VARCHAR PRIMARY KEY,
    feed_name       VARCHAR NOT NULL,
    entry           JSON NOT NULL,         -- the FeedEntry, to rebuild the article later
    attempts        INTEGER NOT NULL,
    last_error      VARCHAR,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE ingest_runs (
    run_id             VARCHAR PRIMARY KEY,
    flow_run_id        VARCHAR,
    started_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ,
    status             VARCHAR NOT NULL,   -- running | completed | failed
    feeds_total        INTEGER NOT NULL DEFAULT 0,
    feeds_ok           INTEGER NOT NULL DEFAULT 0,
    feeds_not_modified INTEGER NOT NULL DEFAULT 0,
    feeds_failed       INTEGER NOT NULL DEFAULT 0,
    entries_seen       INTEGER NOT NULL DEFAULT 0,
    articles_new       INTEGER NOT NULL DEFAULT 0,
    articles_duplicate INTEGER NOT NULL DEFAULT 0,
    articles_updated   INTEGER NOT NULL DEFAULT 0,
    pages_fetched      INTEGER NOT NULL DEFAULT 0,
    pages_failed       INTEGER NOT NULL DEFAULT 0,
    errors             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE fetch_errors (
    run_id      VARCHAR,
    feed_name   VARCHAR,
    url         VARCHAR,
    stage       VARCHAR NOT NULL,          -- feed | page | extract | load
    error       VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE article_revisions (
    article_id VARCHAR NOT NULL,
    revised_at TIMESTAMPTZ NOT NULL,
    title      VARCHAR,
    body       VARCHAR
);

CREATE VIEW articles_unique AS
SELECT * FROM articles WHERE duplicate_of IS NULL;

CREATE VIEW stories AS
SELECT
    a.cluster_id,
    arg_min(a.article_id, a.fetched_at) AS article_id,
    arg_min(a.title, a.fetched_at)      AS title,
    min(coalesce(a.published_at, a.fetched_at)) AS first_seen,
    list(DISTINCT a.source ORDER BY a.source) AS sources,
    count(*)                            AS copies
FROM articles a
GROUP BY a.cluster_id;

CREATE VIEW daily_volume AS
SELECT
    CAST(coalesce(published_at, fetched_at) AS DATE) AS day,
    source,
    count(*) AS articles
FROM articles
GROUP BY ALL;

CREATE VIEW feed_health AS
SELECT
    f.name,
    f.source,
    f.url,
    f.enabled,
    f.last_polled_at,
    f.last_status,
    f.last_error,
    f.consecutive_failures,
    f.failing_since,
    f.next_poll_at,
    f.articles_total AS articles,
    CASE
        WHEN NOT f.enabled THEN 'disabled'
        WHEN f.last_polled_at IS NULL THEN 'never polled'
        WHEN f.consecutive_failures > 0 THEN 'failing'
        ELSE 'ok'
    END AS health
FROM feeds f;
