package dev.qcow2.tools.cangafile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Cangafile parsing, validation with line numbers, and the rendering virt-customize receives. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CangafileTest {
  private static final String README =
      """
      ---
      description: OpenNebula Compatible CentOS 7
      os: CentOS 7
      parent: centos7
      tag: centos7/example
      tasks:
        - copy: context /
        - run:
          - rpm -Uvh /context/one-context*rpm
          - yum remove -y NetworkManager cloud-init
        - delete: /context
        - password:
            user: root
            password: opennebula
      """;

  @Test
  void should_render_the_readme_example_as_cangallo() {
    Cangafile c = Cangafile.parse("centos7.canga", README);
    assertEquals("centos7", c.parent());
    assertEquals("OpenNebula Compatible CentOS 7", c.description());
    assertEquals("CentOS 7", c.os());
    assertEquals("centos7/example", c.tag());
    assertEquals(
        List.of(
            "copy-in context:/",
            "run-command rpm -Uvh /context/one-context*rpm",
            "run-command yum remove -y NetworkManager cloud-init",
            "delete /context"),
        c.commandLines());
    assertEquals(List.of(new Task.Password("root", "opennebula")), c.passwords());
    assertEquals("root:password:opennebula", c.passwords().get(0).selector());
  }

  @Test
  void should_parse_every_task_kind() {
    Cangafile c =
        Cangafile.parse(
            "all.canga",
            """
        parent: base
        tasks:
          - copy: "files /srv"
          - run: |
              apt-get update

              apt-get install -y nginx
          - run: [echo one, "echo two"]
          - change:
              file: /etc/ssh/sshd_config
              regexp: "^#?PermitRootLogin .*/x"
              text: PermitRootLogin no/yes
          - delete: /tmp/build
          - password: {user: root, disabled: true}
          - password: {user: admin, password: s3cret}
        """);
    assertEquals(
        List.of(
            new Task.Copy("files", "/srv"),
            new Task.Run(List.of("apt-get update", "apt-get install -y nginx")),
            new Task.Run(List.of("echo one", "echo two")),
            new Task.Change(
                "/etc/ssh/sshd_config", "^#?PermitRootLogin .*/x", "PermitRootLogin no/yes"),
            new Task.Delete("/tmp/build"),
            new Task.Password("root", null),
            new Task.Password("admin", "s3cret")),
        c.tasks());
    assertEquals(
        List.of(
            "copy-in files:/srv",
            "run-command apt-get update",
            "run-command apt-get install -y nginx",
            "run-command echo one",
            "run-command echo two",
            "run-command sed -i 's/^#?PermitRootLogin .*\\/x/PermitRootLogin no\\/yes/g' /etc/ssh/sshd_config",
            "delete /tmp/build"),
        c.commandLines());
    assertEquals("root:disabled", c.passwords().get(0).selector());
    assertEquals(
        "run-command sed -i 's/it'\\''s/a b/g' '/etc/my file'",
        new Task.Change("/etc/my file", "it's", "a b").lines().get(0));
  }

  @Test
  void should_accept_the_older_top_level_files_and_run() {
    Cangafile c =
        Cangafile.parse(
            "old.canga",
            """
        parent: centos7
        files:
          - context /
        run:
          - rpm -Uvh /context/one-context*rpm
        """);
    assertEquals(
        List.of("copy-in context:/", "run-command rpm -Uvh /context/one-context*rpm"),
        c.commandLines());
    Cangafile both = Cangafile.parse("both.canga", "parent: p\nrun: [a]\ntasks:\n  - run: [b]\n");
    assertEquals(List.of("run-command a", "run-command b"), both.commandLines());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "parent: p\\ntasks:\\n  - run: [a]\\n  - frob: x\\n | x.canga:4: Invalid action \"frob\"",
        "parent: p\\ntasks:\\n  - just a string\\n | x.canga:3: Task \"just a string\" malformed",
        "parent: p\\ntasks:\\n  - copy: [a, b]\\n | x.canga:3: Action parameters for \"copy\" must be \"[String]\"",
        "parent: p\\ntasks:\\n  - run: {a: b}\\n | x.canga:3: Action parameters for \"run\" must be \"[Array, String]\"",
        "parent: p\\ntasks:\\n\\n  - change: text\\n | x.canga:4: Action parameters for \"change\" must be \"[Hash]\"",
        "parent: p\\ntasks:\\n  - change: {file: f, text: t}\\n | x.canga:3: Action \"change\" needs \"file\", \"regexp\" and \"text\"",
        "parent: p\\ntasks:\\n  - password: {user: root}\\n | x.canga:3: Action \"password\" needs \"password\" or \"disabled\"",
        "parent: p\\ntasks:\\n  - copy: onlyone\\n | x.canga:3: Action \"copy\" needs \"SOURCE DESTINATION\", not \"onlyone\"",
        "parent: p\\ntasks:\\n  - run: a\\n    copy: b c\\n | x.canga:3: Task with several actions [run, copy]; write one action per list item",
        "tasks:\\n  - run: [a]\\n | x.canga: no parent image (the key 'parent' is missing)",
        "parent: p\\ntasks: run\\n | x.canga:2: No tasks defined or it's not an array",
        "parent: p\\n | x.canga: No tasks defined or it's not an array",
        "parent: [a]\\ntasks: []\\n | x.canga:1: parent must be an image name",
        "- a list\\n | x.canga:1: a Cangafile is a YAML mapping",
      })
  void should_refuse_a_bad_cangafile_naming_the_line(String text, String message) {
    CangafileException e =
        assertThrows(
            CangafileException.class, () -> Cangafile.parse("x.canga", text.replace("\\n", "\n")));
    assertEquals(message, e.getMessage());
  }

  @Test
  void should_name_the_line_of_broken_yaml() {
    CangafileException e =
        assertThrows(
            CangafileException.class,
            () -> Cangafile.parse("x.canga", "parent: p\ntasks:\n  - run: [a\n"));
    assertTrue(e.getMessage().startsWith("x.canga:"), e.getMessage());
    assertTrue(e.getMessage().contains("not valid YAML"), e.getMessage());
  }

  @Test
  void should_store_the_cangafile_without_description_os_and_passwords() {
    Cangafile c = Cangafile.parse("c.canga", README + "custom: kept\n");
    String stored = c.indexData().toString();
    assertEquals(
        "{\"parent\":\"centos7\",\"tag\":\"centos7/example\",\"tasks\":[{\"copy\":\"context /\"},"
            + "{\"run\":[\"rpm -Uvh /context/one-context*rpm\",\"yum remove -y NetworkManager cloud-init\"]},"
            + "{\"delete\":\"/context\"},{\"password\":{\"user\":\"root\",\"password\":\"[redacted]\"}}],"
            + "\"custom\":\"kept\"}",
        stored);
  }

  @Test
  void should_render_the_virt_customize_invocation_without_libguestfs() {
    assertEquals(
        "copy-in a:/b\nrun-command x y\n",
        GuestCustomizer.commandFile(List.of("copy-in a:/b", "run-command x y")));
    GuestCustomizer g = new GuestCustomizer("virt-customize", Map.of());
    assertEquals(
        List.of(
            "virt-customize",
            "-a",
            "/r/t.qcow2",
            "--password",
            "root:file:/tmp/p",
            "--commands-from-file",
            "/tmp/c"),
        g.argv(Path.of("/r/t.qcow2"), List.of("root:file:/tmp/p"), Path.of("/tmp/c")));
    assertEquals(
        Map.of("LIBGUESTFS_BACKEND", "direct", "LIBGUESTFS_BACKEND_SETTINGS", "force_tcg"),
        GuestCustomizer.libguestfsEnvironment(Map.of(), false));
    assertEquals(
        Map.of("LIBGUESTFS_BACKEND", "direct"),
        GuestCustomizer.libguestfsEnvironment(Map.of(), true));
    assertEquals(
        Map.of(),
        GuestCustomizer.libguestfsEnvironment(
            Map.of("LIBGUESTFS_BACKEND", "libvirt", "LIBGUESTFS_BACKEND_SETTINGS", "x"), false));
  }
}
