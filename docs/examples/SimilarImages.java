// Finds the images of a folder most similar to one query image. Usage: CKPT FOLDER QUERY (see README).
import io.moco4j.api.*;
import java.nio.file.*;
import java.util.List;
import java.util.stream.Stream;

public class SimilarImages {
    public static void main(String[] args) throws Exception {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(Path.of(args[1]))) {
            files = walk.filter(p -> p.toString().matches("(?i).*\\.(jpe?g|png)")).sorted().toList();
        }
        try (Encoder encoder = Encoder.load(Path.of(args[0]))) {        // a .ckpt, or a torchvision .pth
            EmbeddingIndex index = EmbeddingIndex.of(encoder.embed(files)); // one row per file
            float[] query = encoder.embed(Path.of(args[2]));
            for (Neighbor n : index.search(query, 5)) {
                System.out.printf("%.3f  %s%n", n.score(), files.get(n.id()));
            }
        }
    }
}
