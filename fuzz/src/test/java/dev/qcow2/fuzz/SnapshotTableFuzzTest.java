package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.FuzzAccess;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * The snapshot table: seeds with two internal snapshots ({@code qemu-img snapshot -c}) whose
 * {@code nb_snapshots}, {@code snapshots_offset}, entry fields (L1 offset and size, id and name
 * lengths, extra data size and contents), strings and snapshot L1 tables are mutated; then the
 * table listed, the disk read, and every snapshot's L1 and L2 tables walked.
 */
class SnapshotTableFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void openSeedWithMutatedSnapshotTable(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.named("snapshots")) {
        try (Qcow2Image image = Images.open(seed.bytes(), Images.READ)) {
          assertEquals(2, image.snapshots().size(), seed.name());
          Images.readAll(image);
          FuzzAccess.walkReferences(image);
        }
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.named("snapshots"));
    byte[] bytes = Mutator.mutate(data, seed, Kind.SNAPSHOT_TABLE, Kind.SNAPSHOT_L1);
    try (Qcow2Image image = Images.open(bytes, Images.READ)) {
      image.snapshots();
      Images.readAll(image);
      FuzzAccess.walkReferences(image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad table.
    }
  }
}
