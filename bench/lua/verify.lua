-- One fixed license verify, the same bytes on every request (a cache hit once warm).
-- VERIFY_BODY is the form body, e.g. product_id=...&license_key=...&increment_uses_count=false.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = os.getenv("VERIFY_BODY")
