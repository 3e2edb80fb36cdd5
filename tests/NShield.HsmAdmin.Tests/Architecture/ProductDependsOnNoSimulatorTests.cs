using System;
using System.IO;
using System.Linq;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// The product (bin/: loader, cmdlets, engine) references none of the simulator's assemblies and contains none of its
    /// code: read from the built assemblies' metadata, so a stray reference or a type moved back is caught.
    /// </summary>
    public class ProductDependsOnNoSimulatorTests
    {
        // Read fresh from this build (not from bin/, which may be stale): the engine beside the tests, the cmdlets from
        // their project's output (built with the tests, see the project file), in the same configuration.
        private static string[] ProductAssemblies()
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
            var files = new[]
            {
                Path.Combine(AppContext.BaseDirectory, "NShield.HsmAdmin.Engine.dll"),
                Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin", "bin", configuration, "netstandard2.0", "NShield.HsmAdmin.dll"),
            };
            foreach (var f in files) Assert.True(File.Exists(f), $"{f} is missing: the test project builds it.");
            return files;
        }

        [Fact]
        public void The_built_module_folder_holds_no_simulator_file()
        {
            var deps = Path.Combine(RepoPaths.Root, "bin", "deps");
            Assert.True(Directory.Exists(deps), $"{deps} is missing: build the module first (dotnet pwsh ./build.ps1 build).");
            var names = Directory.GetFiles(deps, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
            Assert.Contains("NShield.HsmAdmin.Engine.dll", names);
            Assert.DoesNotContain(names, n => n!.StartsWith("NShield.HsmAdmin.Simulator", StringComparison.Ordinal) || n!.StartsWith("nshield-sim-firmware", StringComparison.Ordinal)
                                              || n!.StartsWith("NShield.HsmAdmin.TestHooks", StringComparison.Ordinal));
        }

        [Fact]
        public void Product_assemblies_reference_no_simulator_assembly_and_define_no_simulator_types()
        {
            foreach (var path in ProductAssemblies())
            {
                using var pe = new PEReader(File.OpenRead(path));
                var md = pe.GetMetadataReader();
                var references = md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name)).ToList();
                Assert.NotEmpty(references);
                Assert.DoesNotContain(references, r => r.StartsWith("NShield.HsmAdmin.Simulator", StringComparison.Ordinal) || r == "nshield-sim-firmware");
                var namespaces = md.TypeDefinitions.Select(h => md.GetString(md.GetTypeDefinition(h).Namespace)).Distinct().ToList();
                Assert.DoesNotContain(namespaces, n => n.EndsWith(".Simulation", StringComparison.Ordinal) || n.EndsWith(".Firmware", StringComparison.Ordinal));
                var types = md.TypeDefinitions.Select(h => md.GetString(md.GetTypeDefinition(h).Name)).ToList();
                Assert.DoesNotContain(types, t => t.Contains("Simulat") || t == "ModuleFirmware" || t == "DefaultCredential");
            }
        }

        [Fact]
        public void The_shipped_engine_has_no_way_to_be_told_to_kill_itself()
        {
            var engine = ProductAssemblies().Single(p => p.EndsWith("NShield.HsmAdmin.Engine.dll", StringComparison.Ordinal));
            using var pe = new PEReader(File.OpenRead(engine));
            var md = pe.GetMetadataReader();
            // No user string names the old environment variable: nothing in the shipped engine can read it.
            var strings = new System.Collections.Generic.List<string>();
            var handle = MetadataTokens.UserStringHandle(1);
            while (!handle.IsNil)
            {
                strings.Add(md.GetUserString(handle));
                handle = md.GetNextHandle(handle);
            }
            Assert.NotEmpty(strings);
            Assert.DoesNotContain(strings, s => s.Contains("KILL_AT", StringComparison.Ordinal));
            // Issue 20: nor the variable that moved the machine folder for simulated hosts (the host setting MachineFolder does).
            Assert.DoesNotContain(strings, s => s.Contains("MACHINE_DIR", StringComparison.Ordinal));
        }

        /// <summary>
        /// Issue 20: no shipped assembly (product or simulator) opens its internals to anything but a test assembly. The
        /// simulator and any adapter use the public API, as a vendor's would; only tests and the test-only hook see inside.
        /// </summary>
        [Fact]
        public void No_shipped_assembly_grants_InternalsVisibleTo_to_a_non_test_assembly()
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
            var shipped = ProductAssemblies().Concat(new[]
            {
                Path.Combine(AppContext.BaseDirectory, "NShield.HsmAdmin.Simulator.dll"),
                Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin.Simulator.Commands", "bin", configuration, "netstandard2.0",
                    "NShield.HsmAdmin.Simulator.Commands.dll"),
            }).Where(File.Exists).ToList();
            Assert.True(shipped.Count >= 3, "the product and simulator assemblies were not found beside the tests");
            var friends = shipped.SelectMany(path => FriendsOf(path).Select(friend => (Assembly: Path.GetFileName(path), Friend: friend))).ToList();
            Assert.Contains(friends, f => f.Friend == "NShield.HsmAdmin.Tests"); // the reader sees the attributes
            var offending = friends.Where(f => !IsTestAssembly(f.Friend)).Select(f => $"{f.Assembly} → {f.Friend}").ToList();
            Assert.True(offending.Count == 0, "InternalsVisibleTo to a non-test assembly: " + string.Join(", ", offending));
        }

        internal static bool IsTestAssembly(string name) =>
            name.EndsWith(".Tests", StringComparison.Ordinal) || name == "NShield.HsmAdmin.TestHooks";

        /// <summary>The assembly names an assembly's InternalsVisibleTo attributes name, read from its metadata.</summary>
        internal static string[] FriendsOf(string path)
        {
            using var pe = new PEReader(File.OpenRead(path));
            var md = pe.GetMetadataReader();
            var names = new System.Collections.Generic.List<string>();
            foreach (var handle in md.GetAssemblyDefinition().GetCustomAttributes())
            {
                var attribute = md.GetCustomAttribute(handle);
                if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
                var ctor = md.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
                if (ctor.Parent.Kind != HandleKind.TypeReference) continue;
                if (md.GetString(md.GetTypeReference((TypeReferenceHandle)ctor.Parent).Name) != "InternalsVisibleToAttribute") continue;
                var blob = md.GetBlobReader(attribute.Value);
                blob.ReadUInt16(); // prolog
                names.Add((blob.ReadSerializedString() ?? "").Split(',')[0].Trim());
            }
            return names.ToArray();
        }
    }
}
