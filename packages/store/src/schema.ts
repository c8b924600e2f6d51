const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks that `name` can be used as a schema name and returns it double-quoted for SQL. The pattern is
 * /^[a-z_][a-z0-9_]{0,62}$/; names starting with `pg_` are refused because PostgreSQL reserves them.
 * This is the only value the package ever interpolates into SQL.
 */
export function quoteSchema(name: string): string {
  if (typeof name !== 'string' || !SCHEMA_NAME.test(name)) {
    throw new TypeError(`invalid schema name ${JSON.stringify(name)}: expected /^[a-z_][a-z0-9_]{0,62}$/`);
  }
  if (name.startsWith('pg_')) {
    throw new TypeError(`invalid schema name ${JSON.stringify(name)}: the prefix pg_ is reserved`);
  }
  return `"${name}"`;
}
