// Package migrations embeds Rapport's numbered plain-SQL schema migrations.
// postgres.Migrate applies them with tern under an advisory lock.
package migrations

import "embed"

// FS holds the migration files, NNN_name.sql, applied in order.
//
//go:embed *.sql
var FS embed.FS
