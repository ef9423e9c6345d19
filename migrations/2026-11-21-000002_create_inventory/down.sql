DROP TABLE machines;
DROP TABLE pools;
