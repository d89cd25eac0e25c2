-- Storage: files a tenant sends straight to S3 (docs/storage.md).
--
-- An upload is asked for (POST /api/uploads: a pending row and a pre-signed POST whose policy
-- fixes key, type and size), sent to S3 by the client, then completed (POST
-- /api/uploads/{id}/complete: the object is there, with that size, and its first bytes are
-- what it claims to be). A completed upload becomes a product's image or an attachment.
-- Objects live under the organization's prefix: org/<org_id>/<upload_id>/original, and the
-- thumbnails beside it (256.<ext>, 1024.<ext>).
--
-- An organization's usage is the sum of its live uploads' declared sizes, pending ones
-- included (a pending upload holds its room until it is completed or removed). A trigger keeps
-- it in storage_usage, so the quota check and GET /api/organization read one row, and two
-- uploads asked for at once wait for each other there instead of both passing the quota.
--
-- Nothing is deleted from S3 inside a transaction: a removed upload is marked (deleted_at,
-- which frees its room at once) and committed, then its objects are deleted, then its row; a
-- failure on the way leaves it marked for the scheduler, which deletes what is marked. A
-- pending upload never completed, or a completed one nothing took within a day, is marked and
-- removed by the scheduler the same way.

CREATE TABLE uploads (
    id                 uuid PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    purpose            text NOT NULL CHECK (purpose IN ('product_image', 'attachment')),
    filename           text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type       text NOT NULL
        CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
    size               bigint NOT NULL CHECK (size > 0),
    actor_user_id      uuid,
    actor_api_key_id   uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    -- An image's pixels, read from its header when it is completed.
    width              integer CHECK (width > 0),
    height             integer CHECK (height > 0),
    -- The thumbnails the thumbnail function wrote (256 and 1024 px on the longer side), in
    -- this format; NULL until then.
    thumbnail_format   text CHECK (thumbnail_format IN ('webp', 'jpeg')),
    -- Set when the upload is removed; the scheduler then deletes its objects and the row.
    deleted_at         timestamptz,
    UNIQUE (org_id, id)
);
-- The scheduler's work: removed uploads, and pending ones by age.
CREATE INDEX uploads_deleted_idx ON uploads (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX uploads_pending_idx ON uploads (created_at) WHERE completed_at IS NULL;
ALTER TABLE uploads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON uploads TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

CREATE TABLE storage_usage (
    org_id  uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    bytes   bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);
ALTER TABLE storage_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage_usage TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- Kept by the trigger below (as the owner) only.
REVOKE INSERT, UPDATE, DELETE ON storage_usage FROM stockroom_app;

CREATE FUNCTION stockroom_storage_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    delta bigint := 0;
    org uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        org := NEW.org_id;
        IF NEW.deleted_at IS NULL THEN delta := NEW.size; END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        org := NEW.org_id;
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN delta := -OLD.size;
        ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN delta := NEW.size;
        END IF;
    ELSE
        org := OLD.org_id;
        IF OLD.deleted_at IS NULL THEN delta := -OLD.size; END IF;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO public.storage_usage AS u (org_id, bytes) VALUES (org, greatest(delta, 0))
        ON CONFLICT (org_id) DO UPDATE SET bytes = greatest(u.bytes + delta, 0);
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_storage_usage() FROM PUBLIC;
CREATE TRIGGER uploads_storage_usage
    AFTER INSERT OR UPDATE OF deleted_at OR DELETE ON uploads
    FOR EACH ROW EXECUTE FUNCTION stockroom_storage_usage();

-- A product's primary image: a completed upload of the same organization.
ALTER TABLE tasks ADD CONSTRAINT tasks_org_id_id_key UNIQUE (org_id, id);
ALTER TABLE products ADD COLUMN image_upload_id uuid;
ALTER TABLE products ADD CONSTRAINT products_image_upload_fkey
    FOREIGN KEY (org_id, image_upload_id) REFERENCES uploads (org_id, id);
-- Deleting an upload's row checks no product points at it, and the clean-up asks whether an
-- upload is an image: both by this index, not a scan of the catalogue.
CREATE INDEX products_image_upload_idx ON products (org_id, image_upload_id)
    WHERE image_upload_id IS NOT NULL;

-- A goods receipt: what one POST /api/purchase-orders/{id}/receive brought in, and where (the
-- delivery note is attached to it).
CREATE TABLE goods_receipts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL,
    purchase_order_id  uuid NOT NULL,
    location_id        uuid NOT NULL,
    -- [{"line_id", "product_id", "quantity"}], as received.
    lines              jsonb NOT NULL,
    actor_user_id      uuid,
    actor_api_key_id   uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, purchase_order_id) REFERENCES purchase_orders (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id)
);
CREATE INDEX goods_receipts_po_idx ON goods_receipts (org_id, purchase_order_id, created_at);
ALTER TABLE goods_receipts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON goods_receipts TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
-- A receipt is a record of what happened: written once, never changed.
REVOKE UPDATE, DELETE ON goods_receipts FROM stockroom_app;

-- A completed upload attached to one thing of the organization: a product, a supplier, a
-- purchase order, a goods receipt or a task. Removing an attachment removes its upload.
CREATE TABLE attachments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL,
    upload_id          uuid NOT NULL UNIQUE,
    product_id         uuid,
    supplier_id        uuid,
    purchase_order_id  uuid,
    receipt_id         uuid,
    task_id            uuid,
    actor_user_id      uuid,
    actor_api_key_id   uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(product_id, supplier_id, purchase_order_id, receipt_id, task_id) = 1),
    FOREIGN KEY (org_id, upload_id) REFERENCES uploads (org_id, id),
    FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
    FOREIGN KEY (org_id, supplier_id) REFERENCES suppliers (org_id, id),
    FOREIGN KEY (org_id, purchase_order_id) REFERENCES purchase_orders (org_id, id),
    FOREIGN KEY (org_id, receipt_id) REFERENCES goods_receipts (org_id, id),
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id) ON DELETE CASCADE
);
-- Each list reads its owner's, oldest first.
CREATE INDEX attachments_product_idx ON attachments (org_id, product_id, created_at)
    WHERE product_id IS NOT NULL;
CREATE INDEX attachments_supplier_idx ON attachments (org_id, supplier_id, created_at)
    WHERE supplier_id IS NOT NULL;
CREATE INDEX attachments_po_idx ON attachments (org_id, purchase_order_id, created_at)
    WHERE purchase_order_id IS NOT NULL;
CREATE INDEX attachments_receipt_idx ON attachments (org_id, receipt_id, created_at)
    WHERE receipt_id IS NOT NULL;
CREATE INDEX attachments_task_idx ON attachments (org_id, task_id, created_at)
    WHERE task_id IS NOT NULL;
ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON attachments TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());

-- Whether an upload is taken: a product's image or an attachment.
CREATE FUNCTION stockroom_upload_in_use(p_org uuid, p_upload uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM public.products
                   WHERE org_id = p_org AND image_upload_id = p_upload)
        OR EXISTS (SELECT 1 FROM public.attachments
                   WHERE org_id = p_org AND upload_id = p_upload);
$$;

-- The thumbnail function (the worker login role, no tenant): what it needs of an upload the
-- bucket announced, and where it records the thumbnails it wrote. An upload removed meanwhile
-- is NULL / not recorded.
CREATE FUNCTION stockroom_upload_for_thumbnails(p_org uuid, p_upload uuid)
RETURNS TABLE (purpose text, content_type text, size bigint, thumbnail_format text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT purpose, content_type, size, thumbnail_format FROM public.uploads
    WHERE org_id = p_org AND id = p_upload AND deleted_at IS NULL;
$$;
REVOKE EXECUTE ON FUNCTION stockroom_upload_for_thumbnails(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_upload_for_thumbnails(uuid, uuid) TO stockroom_worker;

CREATE FUNCTION stockroom_thumbnails_written(p_org uuid, p_upload uuid, p_format text,
                                             p_width integer, p_height integer)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH done AS (
        UPDATE public.uploads SET thumbnail_format = p_format,
                                  width = coalesce(width, p_width),
                                  height = coalesce(height, p_height)
        WHERE org_id = p_org AND id = p_upload AND deleted_at IS NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM done);
$$;
REVOKE EXECUTE ON FUNCTION stockroom_thumbnails_written(uuid, uuid, text, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_thumbnails_written(uuid, uuid, text, integer, integer)
    TO stockroom_worker;

-- The scheduler's clean-up: uploads whose objects are to go (removed; pending past
-- p_pending_after; completed but neither an image nor an attachment after p_orphan_after),
-- marked removed now so no request takes one while its objects are deleted, at most p_batch.
CREATE FUNCTION stockroom_uploads_to_purge(p_pending_after interval, p_orphan_after interval,
                                           p_batch integer)
RETURNS TABLE (org_id uuid, id uuid, thumbnail_format text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE public.uploads u SET deleted_at = now()
    WHERE u.ctid = ANY (ARRAY(
        SELECT p.ctid FROM public.uploads p
        WHERE p.deleted_at IS NULL
          AND ((p.completed_at IS NULL AND p.created_at < now() - p_pending_after)
               OR (p.completed_at IS NOT NULL AND p.completed_at < now() - p_orphan_after
                   AND NOT public.stockroom_upload_in_use(p.org_id, p.id)))
        LIMIT p_batch));
    RETURN QUERY
        SELECT u.org_id, u.id, u.thumbnail_format FROM public.uploads u
        WHERE u.deleted_at IS NOT NULL ORDER BY u.deleted_at LIMIT p_batch;
END
$$;
REVOKE EXECUTE ON FUNCTION stockroom_uploads_to_purge(interval, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_uploads_to_purge(interval, interval, integer)
    TO stockroom_worker;

-- After the scheduler deleted their objects: the rows go.
CREATE FUNCTION stockroom_uploads_purged(p_ids uuid[]) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM public.uploads WHERE id = ANY (p_ids) AND deleted_at IS NOT NULL RETURNING 1
    )
    SELECT count(*) FROM gone;
$$;
REVOKE EXECUTE ON FUNCTION stockroom_uploads_purged(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stockroom_uploads_purged(uuid[]) TO stockroom_worker;
