package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bases and layers: registration, layers on the latest layer, layout, refusals, commit; bases never
 * written.
 */
class LayersTest {
  @TempDir Path dir;

  @Test
  void layersOnTwoBasesTheirLayoutAndCommit() throws Exception {
    Canga canga = new Canga(dir);
    canga.config("");
    Path one = canga.image("one.qcow2", "4M", "write -P 1 0 4M");
    Path two = canga.image("two.qcow2", "4M", "write -P 2 0 1M");
    canga.ok("base", "add", "b1", "--from", one.toString());
    String sha2 = Canga.sha(canga.ok("add", two.toString(), "--tag", "two"));
    assertEquals(
        "Base b2: " + sha2 + "\n", canga.ok("base", "add", "b2", "--from", "two").stdout());
    assertEquals("b2\n", canga.ok("base", "latest").stdout());
    JsonNode bases =
        new ObjectMapper().readTree(canga.ok("base", "list", "--output=json").stdout());
    assertEquals(2, bases.size());
    String sha1 = bases.get(0).get("sha256").asText();
    Path base1 = canga.defaultRepo().resolve(sha1 + ".qcow2");
    Path base2 = canga.defaultRepo().resolve(sha2 + ".qcow2");
    byte[] base1Bytes = Files.readAllBytes(base1);
    byte[] base2Bytes = Files.readAllBytes(base2);

    assertEquals("b2+1\n", canga.ok("layer", "add").stdout());
    assertEquals("b2+2\n", canga.ok("layer", "add").stdout());
    assertEquals("b1+1\n", canga.ok("layer", "add", "b1").stdout());
    Path layers = canga.defaultRepo().resolve("layers");
    Qemu.io(layers, "b2+2.qcow2", "write -P 9 2M 64k");
    Qemu.io(layers, "b1+1.qcow2", "write -P 8 0 64k");
    Qemu.io(layers, "b2+2.qcow2", "read -P 2 0 1M", "read -P 9 2M 64k");
    assertTrue(Qemu.img(layers, "info", "b2+2.qcow2").contains("backing file: b2+1.qcow2"));
    assertTrue(
        Qemu.img(layers, "info", "b2+1.qcow2").contains("backing file: ../" + sha2 + ".qcow2"));

    assertEquals(
        "b1 ("
            + sha1.substring(0, 12)
            + ")\n└── b1+1\nb2 ("
            + sha2.substring(0, 12)
            + ")\n└── b2+1\n    └── b2+2\n",
        canga.ok("layout").stdout());
    JsonNode layout = new ObjectMapper().readTree(canga.ok("layout", "--output=json").stdout());
    assertEquals(
        "b2+2", layout.get(1).get("layers").get(0).get("layers").get(0).get("name").asText());
    String layerList = canga.ok("layer", "list", "--output=json").stdout();
    assertEquals(3, new ObjectMapper().readTree(layerList).size());
    assertEquals(
        layerList, canga.ok("layers", "--output=json").stdout(), "canga layers is layer list");
    assertEquals(canga.ok("layer", "list").stdout(), canga.ok("layers").stdout());

    Cli.Result parent = canga.run("layer", "rm", "b2+1");
    assertEquals(255, parent.exitCode());
    assertEquals("Layer b2+1 is the parent of layer b2+2\n", parent.stderr());
    Cli.Result used = canga.run("base", "rm", "b2");
    assertEquals(255, used.exitCode());
    assertTrue(used.stderr().startsWith("Base b2 is used by layer"), used.stderr());
    canga.ok("layer", "rm", "b2+2");
    assertTrue(!Files.exists(layers.resolve("b2+2.qcow2")));

    String committed = Canga.sha(canga.ok("layer", "commit", "b1+1", "--tag", "b1-custom"));
    RepositoryIndex index = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml"));
    assertEquals(sha1, index.image(committed).parent());
    assertEquals(committed, index.tags().get("b1-custom"));
    Path stored = canga.defaultRepo().resolve(committed + ".qcow2");
    assertEquals(0, Qemu.exec(dir, List.of("qemu-img", "check", stored.toString())).exitCode());
    Qemu.Result same =
        Qemu.exec(
            dir,
            List.of(
                "qemu-img", "compare", layers.resolve("b1+1.qcow2").toString(), stored.toString()));
    assertEquals(0, same.exitCode(), same.stdout());

    assertArrayEquals(base1Bytes, Files.readAllBytes(base1), "bases are never written");
    assertArrayEquals(base2Bytes, Files.readAllBytes(base2), "bases are never written");
    // Cangallo's own keys are untouched: the index still lists every image.
    assertEquals(3, index.images().size());
  }
}
