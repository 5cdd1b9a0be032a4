package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/rapportcare/rapport/migrations"
)

// VersionTable is the table in which tern records the applied migration version.
const VersionTable = "schema_version"

// Migrate applies every pending migration in migrations.FS to the database at
// url. tern holds a session advisory lock (pg_advisory_lock) while it reads
// and changes the version, so concurrent instances starting together apply
// each migration once. It returns an error if the database cannot be reached
// or a migration fails (that migration's transaction is rolled back). The URL
// may carry the pool's parameters (pool_max_conns, …), which the one migration
// connection ignores.
func Migrate(ctx context.Context, url string) error {
	// pgxpool's parser takes the pool_* parameters out of the URL; pgx's own
	// would send them to the server as settings, which it refuses.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("migrate: parse database url: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("migrate: prepare: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return fmt.Errorf("migrate: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: apply: %w", err)
	}
	return nil
}
