-- The group's files (egx_file: same format and header), in order, for read_csv.
SET VARIABLE src_files = (SELECT list(path ORDER BY ord) FROM egx_file);
