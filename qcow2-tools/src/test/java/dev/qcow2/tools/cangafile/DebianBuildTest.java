package dev.qcow2.tools.cangafile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real build: a minimal Debian made by debootstrap into a whole-disk ext4 image, added to a
 * repository, then built on with a Cangafile that uses every task kind through virt-customize.
 * Needs root, network, debootstrap and libguestfs-tools (CI's -Pslow job installs them).
 */
@Tag("slow")
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class DebianBuildTest {
  @TempDir Path dir;

  @Test
  void should_build_a_debian_image_with_every_task_kind() throws Exception {
    Path root = dir.resolve("rootfs");
    run(
        "debootstrap",
        "--variant=minbase",
        "bookworm",
        root.toString(),
        "http://deb.debian.org/debian");
    Files.writeString(root.resolve("etc/fstab"), "/dev/sda / ext4 defaults 0 1\n");
    Files.writeString(root.resolve("etc/motd"), "Welcome to OLD\n");
    Files.createDirectories(root.resolve("var/junk"));
    Files.writeString(root.resolve("var/junk/file"), "junk\n");
    Path disk = dir.resolve("debian.raw");
    run("truncate", "-s", "1G", disk.toString());
    run("mkfs.ext4", "-q", "-F", "-d", root.toString(), disk.toString());

    Path config = dir.resolve("home/config.yaml");
    Cli.Result add =
        Cli.run("canga", "--config", config.toString(), "add", disk.toString(), "--tag", "debian");
    assertEquals(0, add.exitCode(), add.stderr());
    Path ctx = Files.createDirectories(dir.resolve("ctx"));
    Files.writeString(ctx.resolve("hello.txt"), "hello from the host\n");
    Path cangafile = dir.resolve("web.canga");
    Files.writeString(
        cangafile,
        """
        description: Debian with extras
        os: Debian 12
        parent: debian
        tag: debian/extras
        tasks:
          - copy: CTX /srv
          - run:
            - echo one > /srv/one.txt
          - run: |
              echo two > /srv/two.txt
              echo three >> /srv/two.txt
          - change:
              file: /etc/motd
              regexp: OLD
              text: NEW
          - delete: /var/junk
          - password:
              user: root
              password: canga-secret
        """
            .replace("CTX", ctx.toString()));
    Cli.Result build =
        Cli.run("canga", "--config", config.toString(), "build", cangafile.toString());
    assertEquals(0, build.exitCode(), build.stdout() + build.stderr());
    assertTrue(
        build
            .stdout()
            .startsWith(
                "copy-in "
                    + ctx
                    + ":/srv\nrun-command echo one > /srv/one.txt\n"
                    + "run-command echo two > /srv/two.txt\nrun-command echo three >> /srv/two.txt\n"
                    + "run-command sed -i 's/OLD/NEW/g' /etc/motd\ndelete /var/junk\n"),
        build.stdout());

    RepositoryIndex index = RepositoryIndex.read(dir.resolve("home/default/index.yaml"));
    String sha = index.tags().get("debian/extras");
    ImageEntry e = index.image(sha);
    assertEquals(index.tags().get("debian"), e.parent());
    assertEquals("Debian with extras", e.description());
    Path stored = dir.resolve("home/default/" + sha + ".qcow2");
    assertEquals(0, Qemu.exec(dir, List.of("qemu-img", "check", stored.toString())).exitCode());
    assertTrue(
        Files.size(stored) < Files.size(dir.resolve("home/default/" + e.parent() + ".qcow2")));

    Path exported = dir.resolve("exported.qcow2");
    assertEquals(
        0,
        Cli.run(
                "canga",
                "--config",
                config.toString(),
                "export",
                "debian/extras",
                exported.toString())
            .exitCode());
    // One appliance launch (10 to 15 s under emulation) answers all the questions about an image.
    List<String> got =
        guest(
            exported,
            List.of("cat", "/srv/ctx/hello.txt"),
            List.of("cat", "/srv/one.txt"),
            List.of("cat", "/srv/two.txt"),
            List.of("cat", "/etc/motd"),
            List.of("exists", "/var/junk"),
            List.of("cat", "/etc/shadow"));
    assertEquals("hello from the host\n", got.get(0));
    assertEquals("one\n", got.get(1));
    assertEquals("two\nthree\n", got.get(2));
    assertEquals("Welcome to NEW\n", got.get(3));
    assertEquals("false", got.get(4));
    String shadowRoot =
        got.get(5).lines().filter(l -> l.startsWith("root:")).findFirst().orElseThrow();
    assertNotEquals("*", shadowRoot.split(":")[1]);
    assertFalse(Files.readString(dir.resolve("home/default/index.yaml")).contains("canga-secret"));

    // A build file of targets on the same image: copy, run and install (a .deb made here) in the
    // guest, the second target on the first.
    Path pkg = Files.createDirectories(dir.resolve("pkg/DEBIAN"));
    Files.writeString(
        pkg.resolve("control"),
        "Package: canga-test\nVersion: 1.0\nArchitecture: all\n"
            + "Maintainer: canga <canga@example.org>\nDescription: canga test package\n");
    Files.createDirectories(dir.resolve("pkg/usr/share/canga-test"));
    Files.writeString(dir.resolve("pkg/usr/share/canga-test/marker"), "installed\n");
    run(
        "dpkg-deb",
        "--build",
        dir.resolve("pkg").toString(),
        dir.resolve("canga-test.deb").toString());
    Path targets = dir.resolve("targets.yaml");
    Files.writeString(
        targets,
        """
        web:
          base: debian
          copy: ctx/hello.txt /root/hello.txt
          install: canga-test.deb
        site:
          base: web
          run: echo site > /srv/site.txt
        """);
    Cli.Result multi = Cli.run("canga", "--config", config.toString(), "build", targets.toString());
    assertEquals(0, multi.exitCode(), multi.stdout() + multi.stderr());
    RepositoryIndex after = RepositoryIndex.read(dir.resolve("home/default/index.yaml"));
    String site = after.tags().get("site");
    assertEquals(after.tags().get("web"), after.image(site).parent());
    Path siteFile = dir.resolve("site.qcow2");
    assertEquals(
        0,
        Cli.run("canga", "--config", config.toString(), "export", "site", siteFile.toString())
            .exitCode());
    assertEquals(
        List.of("installed\n", "hello from the host\n", "site\n"),
        guest(
            siteFile,
            List.of("cat", "/usr/share/canga-test/marker"),
            List.of("cat", "/root/hello.txt"),
            List.of("cat", "/srv/site.txt")));
  }

  private static final String SPLIT = "canga-test-split"; // no leading dash: not an option

  /**
   * The replies of guestfish {@code commands}, run in one read-only session on {@code image}, in
   * order; an {@code echo} of a marker between them tells them apart.
   */
  @SafeVarargs
  private List<String> guest(Path image, List<String>... commands) {
    List<String> argv =
        new ArrayList<>(List.of("guestfish", "--ro", "-a", image.toString(), "-m", "/dev/sda"));
    for (int i = 0; i < commands.length; i++) {
      if (i > 0) {
        argv.addAll(List.of(":", "echo", SPLIT, ":"));
      }
      argv.addAll(commands[i]);
    }
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(false);
    pb.environment()
        .putAll(
            GuestCustomizer.libguestfsEnvironment(System.getenv(), GuestCustomizer.kvmUsable()));
    try {
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes());
      assertEquals(0, p.waitFor(), "guestfish " + argv);
      List<String> replies = new ArrayList<>();
      for (String reply : out.split(SPLIT + "\n", -1)) {
        // guestfish ends every reply with a newline of its own.
        replies.add(reply.endsWith("\n") ? reply.substring(0, reply.length() - 1) : reply);
      }
      assertEquals(commands.length, replies.size(), "guestfish replies: " + out);
      return replies;
    } catch (Exception ex) {
      throw new AssertionError(ex);
    }
  }

  private void run(String... command) {
    Qemu.run(dir, command);
  }
}
