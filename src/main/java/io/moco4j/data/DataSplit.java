package io.moco4j.data;

/** Which part of a data set to open: the training images or the held-out test (validation) images. */
public enum DataSplit {
    TRAIN,
    TEST
}
