-- A till looks products up by the barcode it scanned: exactly (?barcode=) or in the text search.
CREATE INDEX products_org_barcode_idx ON products (org_id, barcode) WHERE barcode IS NOT NULL;
DROP INDEX products_search_idx;
CREATE INDEX products_search_idx ON products
    USING gin ((lower(name) || ' ' || lower(sku) || ' ' || lower(coalesce(barcode, ''))) gin_trgm_ops);
