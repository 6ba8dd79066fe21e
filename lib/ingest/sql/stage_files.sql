-- The group's files (egx_file: same format and header), in order, and the names of their columns
-- (egx_column), for read_csv.
SET VARIABLE src_files = (SELECT list(path ORDER BY ord) FROM egx_file);
SET VARIABLE src_names = (SELECT list(name ORDER BY pos) FROM egx_column);

-- The names of the columns the files have, lower case, for egx_has (prelude.sql).
SET VARIABLE src_columns = (SELECT list(lower(name)) FROM egx_column);
