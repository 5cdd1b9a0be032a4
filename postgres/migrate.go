package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"github.com/rapportcare/rapport/migrations"
)

// VersionTable is the table in which tern records the applied migration version.
const VersionTable = "schema_version"

// Migrate applies every pending migration in migrations.FS to the database at
// url. tern holds a session advisory lock (pg_advisory_lock) while it reads
// and changes the version, so concurrent instances starting together apply
// each migration once. It returns an error if the database cannot be reached
// or a migration fails (that migration's transaction is rolled back).
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
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
