package dev.qcow2.tools.cangafile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Build files of several targets: dependency order, base empty made with mkfs.ext4 -d from a
 * tarball, host hooks, dated tags, reuse of unchanged targets, rebuild of changed ones and of what
 * stands on them, and refusals before anything is built.
 */
class MultiBuildTest {
  @TempDir Path dir;

  private Cli.Result canga(String... args) {
    List<String> all =
        new ArrayList<>(List.of("canga", "--config", dir.resolve("home/config.yaml").toString()));
    all.addAll(List.of(args));
    return Cli.run(all.toArray(String[]::new));
  }

  private RepositoryIndex index() throws Exception {
    return RepositoryIndex.read(dir.resolve("home/default/index.yaml"));
  }

  private void tarball(String hello) throws Exception {
    Path tree = Files.createDirectories(dir.resolve("tree/etc"));
    Files.writeString(tree.resolve("hello"), hello);
    Qemu.run(dir, "tar", "-czf", "rootfs.tar.gz", "-C", dir.resolve("tree").toString(), ".");
  }

  @Test
  void buildsTargetsInOrderTagsThemAndReusesUnchangedOnes() throws Exception {
    tarball("hello, one\n");
    Path build = dir.resolve("build.yaml");
    Files.writeString(
        build,
        """
        tools:
          base: app
          description: the tools layer
        app:
          base: rootfs
          pre: echo pre-$CANGA_TARGET >> log.txt
        rootfs:
          base: empty
          size: 32M
          filesystem: ext4
          expand: rootfs.tar.gz
          pre: echo pre-rootfs >> log.txt
          post:
            - echo post-rootfs >> log.txt
        """);
    Cli.Result r = canga("build", build.toString());
    assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
    assertEquals("pre-rootfs\npost-rootfs\npre-app\n", Files.readString(dir.resolve("log.txt")));
    String today = LocalDate.now().toString();
    RepositoryIndex first = index();
    String rootfs = first.tags().get("rootfs");
    assertEquals(rootfs, first.tags().get("rootfs-" + today + "_1"));
    assertEquals(first.tags().get("app"), first.tags().get("app-" + today + "_1"));
    // Without guest actions app and tools hold rootfs's disk: the same content, the same image.
    assertEquals(rootfs, first.tags().get("app"));
    assertEquals(rootfs, first.tags().get("tools"));
    assertEquals(1, first.images().size());
    assertEquals("hello, one\n", readFile(rootfs, "/etc/hello"));

    Cli.Result again = canga("build", build.toString());
    assertEquals(0, again.exitCode(), again.stderr());
    assertTrue(again.stdout().contains("rootfs: unchanged, reusing " + rootfs), again.stdout());
    assertTrue(again.stdout().contains("tools: unchanged, reusing"), again.stdout());
    assertEquals(first.tags(), index().tags(), "nothing rebuilt, no new tags");

    tarball("hello, two\n");
    Cli.Result changed = canga("build", build.toString());
    assertEquals(0, changed.exitCode(), changed.stderr());
    RepositoryIndex second = index();
    assertNotEquals(rootfs, second.tags().get("rootfs"));
    assertEquals(second.tags().get("rootfs"), second.tags().get("rootfs-" + today + "_2"));
    assertEquals(rootfs, second.tags().get("rootfs-" + today + "_1"), "old dated tags are kept");
    assertEquals(
        second.tags().get("app"),
        second.tags().get("app-" + today + "_2"),
        "what stands on it is rebuilt");
    assertEquals(second.tags().get("tools"), second.tags().get("tools-" + today + "_2"));
    assertEquals("hello, two\n", readFile(second.tags().get("tools"), "/etc/hello"));
  }

  /** A file of the ext4 disk of an image, through qemu-img's raw view and debugfs. */
  private String readFile(String sha, String path) {
    Qemu.img(
        dir,
        "convert",
        "-O",
        "raw",
        dir.resolve("home/default/" + sha + ".qcow2").toString(),
        "view.raw");
    return Qemu.run(dir, "debugfs", "-R", "cat " + path, "view.raw");
  }

  @Test
  void cyclesAndUnknownBasesAreRefusedBeforeAnythingIsBuilt() throws Exception {
    Path cycle = dir.resolve("cycle.yaml");
    Files.writeString(cycle, "a:\n  base: b\n  pre: touch built\nb:\n  base: a\n");
    Cli.Result r = canga("build", cycle.toString());
    assertEquals(255, r.exitCode());
    assertEquals(cycle + ": the targets' bases form a cycle: a -> b -> a\n", r.stderr());
    Path unknown = dir.resolve("unknown.yaml");
    Files.writeString(unknown, "a:\n  base: empty\n  size: 8M\nb:\n  base: nowhere\n");
    Cli.Result u = canga("build", unknown.toString());
    assertEquals(255, u.exitCode());
    assertEquals(unknown + ": target b: unknown base 'nowhere'\n", u.stderr());
    Path badKey = dir.resolve("bad.yaml");
    Files.writeString(badKey, "a:\n  base: empty\n  size: 8M\n  frobnicate: yes\n");
    assertEquals(
        badKey + ": target a: unknown key 'frobnicate'\n",
        canga("build", badKey.toString()).stderr());
    assertTrue(!Files.exists(dir.resolve("built")));
    assertEquals(0, index().images().size());
  }

  @Test
  void guestActionsBecomeVirtCustomizeCommands() throws Exception {
    Files.writeString(
        dir.resolve("b.yaml"),
        """
        web:
          base: empty
          size: 8M
        site:
          base: web
          expand: site.tar
          copy:
            - conf/nginx.conf /etc/nginx/nginx.conf
            - www /srv/www/
          install: pkgs/tool.deb
          run: |
            systemctl enable nginx
            echo done
        """);
    MultiBuild b =
        MultiBuild.read(
            dir.resolve("b.yaml"),
            new dev.qcow2.tools.repo.Repositories(
                dev.qcow2.tools.repo.RepositoryConfig.load(dir.resolve("home/config.yaml"), dir)));
    MultiBuild.Target site = b.order().get(1);
    assertEquals("site", site.name());
    assertEquals(
        List.of(
            "copy-in " + dir.resolve("site.tar") + ":/tmp",
            "run-command tar -xf /tmp/site.tar -C / && rm -f /tmp/site.tar",
            "mkdir /tmp/canga-copy-1",
            "copy-in " + dir.resolve("conf/nginx.conf") + ":/tmp/canga-copy-1",
            "run-command mkdir -p /etc/nginx && mv /tmp/canga-copy-1/nginx.conf /etc/nginx/nginx.conf && rmdir /tmp/canga-copy-1",
            "mkdir /srv/www/",
            "copy-in " + dir.resolve("www") + ":/srv/www/",
            "copy-in " + dir.resolve("pkgs/tool.deb") + ":/tmp",
            "run-command dpkg -i /tmp/tool.deb && rm -f /tmp/tool.deb",
            "run-command systemctl enable nginx",
            "run-command echo done"),
        b.guestCommands(site));
    assertEquals(List.of(), b.guestCommands(b.order().get(0)));
  }
}
