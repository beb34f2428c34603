//! The runbook's SQL, copied verbatim from `shared/seed/MIGRATION_PROCEDURES.md` (a test checks
//! every block still stands there word for word).

/// Step 4 (production): the verification checklist.
pub const VERIFY_COUNTS: &str = "-- 1. Verify tables exist
SELECT 'Tables' as check_type, count(*) as count
FROM information_schema.tables
WHERE table_name IN ('digital_assets', 'asset_processing_locations', 'data_processing_activity_digital_assets');

-- 2. Verify enums exist
SELECT 'Enums' as check_type, count(*) as count
FROM pg_type
WHERE typtype = 'e' AND typname IN ('AssetType', 'IntegrationStatus', 'LocationRole');

-- 3. Verify indexes exist
SELECT 'Indexes' as check_type, count(*) as count
FROM pg_indexes
WHERE tablename IN ('digital_assets', 'asset_processing_locations', 'data_processing_activity_digital_assets');

-- 4. Verify foreign keys exist
SELECT 'Foreign Keys' as check_type, count(*) as count
FROM information_schema.table_constraints
WHERE constraint_type = 'FOREIGN KEY'
AND table_name IN ('digital_assets', 'asset_processing_locations', 'data_processing_activity_digital_assets');";

/// Step 4 (staging): the three listing queries.
pub const STAGING_TABLES: &str = "-- Verify tables exist
  SELECT table_name
  FROM information_schema.tables
  WHERE table_schema = 'public'
  AND table_name LIKE '%asset%';";
pub const STAGING_ENUMS: &str = "SELECT typname
  FROM pg_type
  WHERE typtype = 'e'
  AND typname IN ('AssetType', 'IntegrationStatus', 'LocationRole');";
pub const STAGING_INDEXES: &str = "SELECT indexname
  FROM pg_indexes
  WHERE tablename IN ('digital_assets', 'asset_processing_locations');";

/// Step 5 (staging): the smoke test.
pub const SMOKE_INSERT: &str = "INSERT INTO digital_assets (
    id, organization_id, name, type, contains_personal_data
  ) VALUES (
    'test-123',
    (SELECT id FROM organizations LIMIT 1),
    'Test Asset',
    'DATABASE',
    false
  );";
pub const SMOKE_SELECT: &str = "SELECT id, name, type FROM digital_assets WHERE id = 'test-123';";
pub const SMOKE_DELETE: &str = "DELETE FROM digital_assets WHERE id = 'test-123';";

/// Step 5 (production): the smoke test; `$SMOKE_TEST_ID` is the id the insert returned.
pub const PROD_SMOKE_INSERT: &str = "INSERT INTO digital_assets (
    id, organization_id, name, type, contains_personal_data
  )
  SELECT
    'smoke-test-' || gen_random_uuid()::text,
    id,
    'Smoke Test Asset',
    'DATABASE',
    false
  FROM organizations
  LIMIT 1
  RETURNING id;";
pub const PROD_SMOKE_SELECT: &str =
    "SELECT id, name, type, created_at FROM digital_assets WHERE id = '$SMOKE_TEST_ID';";
pub const PROD_SMOKE_DELETE: &str = "DELETE FROM digital_assets WHERE id = '$SMOKE_TEST_ID';";

/// Rollback procedure step 2: the row counts checked before rolling back.
pub const ROLLBACK_COUNTS: &str = "SELECT COUNT(*) FROM digital_assets;
     SELECT COUNT(*) FROM asset_processing_locations;";

pub const ALL: [&str; 12] = [
    VERIFY_COUNTS,
    STAGING_TABLES,
    STAGING_ENUMS,
    STAGING_INDEXES,
    SMOKE_INSERT,
    SMOKE_SELECT,
    SMOKE_DELETE,
    PROD_SMOKE_INSERT,
    PROD_SMOKE_SELECT,
    PROD_SMOKE_DELETE,
    ROLLBACK_COUNTS,
    "SELECT COUNT(*) FROM digital_assets;",
];

/// Splits a block into its statements (the blocks hold no `;` inside literals).
pub fn statements(block: &str) -> Vec<&str> {
    block
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_copied_block_stands_verbatim_in_the_runbook() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/seed/MIGRATION_PROCEDURES.md");
    let Ok(runbook) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the runbook at {}",
            path.display()
        );
        eprintln!("SKIPPED: no runbook at {}", path.display());
        return;
    };
    for block in ALL {
        assert!(
            runbook.contains(block),
            "not in the runbook verbatim:\n{block}"
        );
    }
}
