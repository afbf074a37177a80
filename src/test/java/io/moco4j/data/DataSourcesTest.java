package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSourcesTest {
    @TempDir
    Path dir;

    @Test
    void builtinGivesGeneratedScenes() {
        ImageDataset train = DataSources.open(null, false, false);
        assertInstanceOf(GeneratedScenes.class, train);
        assertEquals(GeneratedScenes.DEFAULT_TRAIN_COUNT, train.size());
        GeneratedScenes big = (GeneratedScenes) DataSources.open("builtin:64:50", DataSplit.TRAIN, false, false);
        assertEquals(64, big.imageSize());
        assertEquals(50, big.size());
        ImageDataset test = DataSources.open("builtin:64:1000", DataSplit.TEST, false, false);
        assertEquals(200, test.size());
        assertThrows(UserException.class, () -> DataSources.open("builtin:huge", false, false));
    }

    @Test
    void trainAndTestSubFoldersPickTheSplit() throws IOException {
        ImageFolderDatasetTest.write(dir.resolve("train/cat/1.png"), 2, 2, 0);
        ImageFolderDatasetTest.write(dir.resolve("train/dog/1.png"), 2, 2, 0);
        ImageFolderDatasetTest.write(dir.resolve("train/dog/2.png"), 2, 2, 0);
        ImageFolderDatasetTest.write(dir.resolve("val/cat/1.png"), 2, 2, 0);
        ImageDataset train = DataSources.open(dir.toString(), DataSplit.TRAIN, false, false);
        assertEquals(List.of("cat", "dog"), train.classes());
        assertEquals(3, train.size());
        ImageDataset test = DataSources.open(dir.toString(), DataSplit.TEST, false, false);
        assertEquals(1, test.size());
        // Pointing at the split folder itself works too.
        assertEquals(3, DataSources.open(dir.resolve("train").toString(), false, false).size());
        // An evaluation set given as a plain class folder (--val DIR) is that folder itself.
        assertEquals(1, DataSources.open(dir.resolve("val").toString(), DataSplit.TEST, false, false).size());
    }

    @Test
    void cifarBinariesAreFoundInTheFolderOrItsUnpackedChild() throws IOException {
        Path bin = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
        CifarBinaryDatasetTest.writeRecords(bin.resolve("data_batch_1.bin"), CifarBinaryDatasetTest.record(0, 1));
        CifarBinaryDatasetTest.writeRecords(bin.resolve("test_batch.bin"), CifarBinaryDatasetTest.record(1, 2));
        assertInstanceOf(CifarBinaryDataset.class, DataSources.open(dir.toString(), false, false));
        assertEquals(2, DataSources.open(bin.toString(), DataSplit.TEST, false, false).label(0));
        assertEquals(1, DataSources.open(bin.resolve("data_batch_1.bin").toString(), false, false).label(0));
    }

    @Test
    void badPathsExplainTheFix() throws IOException {
        UserException missing = assertThrows(UserException.class,
                () -> DataSources.open(dir.resolve("nothing").toString(), false, false));
        assertTrue(missing.getMessage().contains("does not exist; point --data at"), missing.getMessage());
        Path archive = Files.writeString(dir.resolve("data.tar.gz"), "x");
        UserException tar = assertThrows(UserException.class, () -> DataSources.open(archive.toString(), false, false));
        assertTrue(tar.getMessage().contains("unpack it first"), tar.getMessage());
        Path file = Files.writeString(dir.resolve("notes.txt"), "x");
        UserException notFolder = assertThrows(UserException.class, () -> DataSources.open(file.toString(), false, false));
        assertTrue(notFolder.getMessage().contains("is a file, not a folder"), notFolder.getMessage());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        UserException noImages = assertThrows(UserException.class, () -> DataSources.open(empty.toString(), false, false));
        assertTrue(noImages.getMessage().contains("contains no images"), noImages.getMessage());
    }
}
